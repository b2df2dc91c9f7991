// tsc does not copy plain .js sources; the generated protobuf module is one, so copy it (and its
// declarations, which the emitted .d.ts files import) into dist.
import { copyFileSync, mkdirSync } from 'node:fs';
mkdirSync('dist/src/onnx', { recursive: true });
copyFileSync('src/onnx/proto.js', 'dist/src/onnx/proto.js');
copyFileSync('src/onnx/proto.d.ts', 'dist/src/onnx/proto.d.ts');
