#!/bin/sh
# Regenerates the static protobuf module from the pinned schema src/onnx/onnx.proto.
# The output is committed, so installing growlm never needs protobufjs-cli.
set -e
cd "$(dirname "$0")/.."
npx pbjs -t static-module -w es6 --es6 --no-create --no-verify --no-delimited --no-convert --no-beautify \
  --keep-case -o src/onnx/proto.js src/onnx/onnx.proto
sed -i 's#import \* as \$protobuf from "protobufjs/minimal";#import \$protobuf from "protobufjs/minimal.js";#' src/onnx/proto.js
npx pbts -o src/onnx/proto.d.ts src/onnx/proto.js
