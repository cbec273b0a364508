#!/bin/sh
# Everything the real-GPU goals need, in one short run on a lent GPU (../shared/gpu/README.md says
# how to carry the binaries and the Vulkan loader): wgtrain's benchmark (every kernel, the training
# rows), three epochs of the seed MLP, the seed CNN and the 4-conv CNN on full Fashion-MNIST, then
# PyTorch's eager, CUDA-graph and torch.compile modes on the same data, in the same command.
#
#   sh benchmarks/gpu_session.sh BIN DATA OUT
#
# BIN holds the `wgtrain` binary, DATA the four Fashion-MNIST .gz files, OUT receives the reports.
set -eu
BIN=$1 DATA=$2 OUT=$3
"$BIN/wgtrain" bench --adapter vulkan --out "$OUT" > "$OUT/bench.txt"
for model in mlp cnn cnn4; do
    "$BIN/wgtrain" train --preset "$model" --adapter vulkan --data "$DATA" --epochs 3 --validation-split 0 \
        --quiet --metrics "$OUT/$model.csv"
done
python3 benchmarks/torch_seed_models.py "$DATA" > "$OUT/torch.txt"
grep -E "^(matmul .*4096×4096|mlp |cnn |convnet |cnn4 )" "$OUT/bench.txt"
for model in mlp cnn cnn4; do echo "wgtrain $model (epoch, seconds, samples/s):"; cut -d, -f1,6,7 "$OUT/$model.csv"; done
cat "$OUT/torch.txt"
