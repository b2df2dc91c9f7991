// tsc does not copy plain .js sources; the generated protobuf module is one, so copy it into dist.
import { copyFileSync, mkdirSync } from 'node:fs';
mkdirSync('dist/src/onnx', { recursive: true });
copyFileSync('src/onnx/proto.js', 'dist/src/onnx/proto.js');
