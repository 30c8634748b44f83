export declare const WEIGHT_FORMATS: readonly ('bf16' | 'fp16')[];
export interface WeightOptions {
  format?: 'bf16' | 'fp16';
  seed?: string;
}
export declare function weightChunks(bytes: number, options?: WeightOptions): Generator<Buffer>;
export declare function writeWeights(file: string, bytes: number, options?: WeightOptions): Promise<void>;
