/**
 * Gradient rules, one per op type (tfjs-core style): a rule receives the forward node and the
 * gradients of its outputs, appends backward nodes through the context, and returns one gradient
 * per input (null where the input gets none).
 */
import type { GraphBuilder } from '../onnx/builder.js';
import type { Node } from '../onnx/ir.js';
import type { ValueType } from '../onnx/shapes.js';

export interface GradContext {
  b: GraphBuilder;
  /** Inferred type of a value (throws when unknown). */
  type(name: string): ValueType;
  /** Whether input i of the node being differentiated needs a gradient. */
  needs(i: number): boolean;
  /** Reduce a broadcast gradient `g` to the shape of `like`. */
  sumTo(g: string, like: string): string;
  /** Shape of a value as an int64 tensor (a constant when static). */
  shapeOf(x: string): string;
  /** A float scalar constant of `like`'s dtype. */
  scalar(v: number, like: string): string;
  /** Zeros shaped like `x`. */
  zerosLike(x: string): string;
}

/** Output gradients: null where an output got none. */
export type GradRule = (ctx: GradContext, node: Node, dy: Array<string | null>) => Array<string | null>;

const RULES = new Map<string, GradRule>();

export function registerGrad(op: string, rule: GradRule): void {
  RULES.set(op, rule);
}

export function gradRule(op: string): GradRule | undefined {
  return RULES.get(op);
}

export function registeredOps(): string[] {
  return [...RULES.keys()].sort();
}

/** The single output gradient of a one-output op. */
export function one(dy: Array<string | null>): string {
  return dy[0]!;
}

export function intAttr(n: Node, name: string, fallback: number): number {
  const a = n.attrs[name];
  return a && a.type === 'int' ? a.value : fallback;
}

export function floatAttr(n: Node, name: string, fallback: number): number {
  const a = n.attrs[name];
  return a && (a.type === 'float' || a.type === 'int') ? a.value : fallback;
}
