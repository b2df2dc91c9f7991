/** Importing this module registers every gradient rule. */
import './elementwise.js';
import './unary.js';
import './matmul.js';
import './shape.js';
import './reduce.js';
import './softmax.js';
import './gather.js';
import './loss.js';
import './fused.js';
