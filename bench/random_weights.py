"""Build a model with a real architecture and tokenizer but random weights, for throughput runs
on machines that cannot reach the hub (throughput does not depend on the weights' values).

    python bench/random_weights.py CONFIG_AND_TOKENIZER_DIR OUT_DIR [--layers N --hidden H ...]
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", help="folder with config.json and tokenizer files")
    parser.add_argument("out")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--override", nargs="*", default=[], help="config fields, e.g. hidden_size=4096")
    args = parser.parse_args()
    config = AutoConfig.from_pretrained(args.source)
    for item in args.override:
        key, value = item.split("=")
        setattr(config, key, int(value))
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, args.dtype))
    out = Path(args.out)
    model.save_pretrained(out)
    for f in Path(args.source).iterdir():
        if f.name != "config.json" and not f.name.endswith(".safetensors"):
            shutil.copy(f, out / f.name)
    print(f"{out}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters")


if __name__ == "__main__":
    main()
