/** Safetensors: the one reader and writer, and the exact float16 / bfloat16 conversions they use. */
export {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float16BitsToNumber,
  float32Bits,
  float32BitsToBfloat16Bits,
  float32BitsToFloat16Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  roundToDtype,
} from './float-bits.js';
export {
  DTYPE_BYTES,
  SAFETENSORS_INDEX,
  SAFETENSORS_SINGLE,
  type SafetensorsDtype,
  type TensorInfo,
} from './safetensors-format.js';
export { SafetensorsStore } from './safetensors-store.js';
export {
  encodeTensor,
  shardFileName,
  writeSafetensors,
  writeShardedSafetensors,
  type TensorToWrite,
} from './safetensors-writer.js';
