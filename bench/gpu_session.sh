#!/usr/bin/env bash
# What ran on the borrowed GPU (no hub access there): real SmolLM2 / Gemma 3 configs and tokenizers
# with random weights (throughput does not depend on weight values), an 8B Llama-shaped model, and
# the GPU tests. Expects .devcarry/ with the tokenizers (xz) and a bitsandbytes wheel.
set -euo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .devcarry/*.whl
export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, bitsandbytes; print('torch', torch.__version__, 'transformers', transformers.__version__, 'bitsandbytes', bitsandbytes.__version__)"
for m in smol gemma; do mkdir -p /tmp/src-$m && cp .devcarry/$m/* /tmp/src-$m/ && xz -df /tmp/src-$m/tokenizer.json.xz; done
stage=${1:-small}
if [ "$stage" = small ]; then
python3 bench/random_weights.py /tmp/src-smol /tmp/smol
python3 bench/random_weights.py /tmp/src-gemma /tmp/gemma
echo "== SmolLM2-135M shape, bf16"; python3 bench/search_bench.py --model /tmp/smol --subset 4096 --naive-batch 64 --full
echo "== Gemma 3 270M shape, bf16"; python3 bench/search_bench.py --model /tmp/gemma --template gemma_turns --subset 4096 --naive-batch 64 --full
echo "== GPU tests"; python3 -m pytest -q -p no:cacheprovider tests/scoring/test_gpu.py tests/scoring/test_search.py -x
exit 0
fi
echo "== GPU tests"; python3 -m pytest -q -p no:cacheprovider tests/scoring/test_gpu.py || true
python3 bench/random_weights.py /tmp/src-smol /tmp/smol --dtype float32
echo "== SmolLM2-135M shape, fp32 (agreement of the two methods)"; python3 bench/search_bench.py --model /tmp/smol --dtype float32 --subset 4096 --naive-batch 64
python3 bench/random_weights.py /tmp/src-smol /tmp/llama8b --override hidden_size=4096 intermediate_size=14336 \
  num_hidden_layers=32 num_attention_heads=32 num_key_value_heads=8 head_dim=128
echo "== Llama 8B shape (SmolLM2 vocabulary), bf16"; python3 bench/search_bench.py --model /tmp/llama8b --subset 4096 --naive-batch 64 --full
echo "== Llama 8B shape, 4-bit NF4"; python3 bench/search_bench.py --model /tmp/llama8b --quantization 4bit --subset 4096 --naive-batch 64
echo "== Llama 8B shape, 8-bit"; python3 bench/search_bench.py --model /tmp/llama8b --quantization 8bit --subset 2048 --naive-batch 64
