"""Reward-model training (engine side of the Training page): config (TrainConfig, presets) and arguments
(TRL's parser for the command line), data and formatting (pairs in each base's template), prepare,
loop and trainer (TRL RewardTrainer + PEFT LoRA; the loop registers each checkpoint it saves), checkpoints, runlog,
trajectory (checkpoints scored on the Big Two words) and jobs (training as an engine job).

`config`, `data`, `runlog`, `checkpoints` and `trajectory` import no torch (trajectory loads models when it
scores); `formatting`, `prepare`, `loop`, `trainer`, `arguments` and `jobs` do.
"""
