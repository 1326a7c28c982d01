"""Fine-tuning: LoRA / QLoRA with SFT on the pricer's data, planned, trained, followed and scored.

    config.py    RunConfig (pydantic, the form's help texts) -> peft.LoraConfig, BitsAndBytesConfig, trl.SFTConfig
    plan.py      the memory plan: weights, adapter (exact count from peft), gradients, optimizer, activations
    data.py      prompt/completion pairs, token lengths, the completion-only loss mask
    runner.py    runs on disk: launch in the background, progress, stop, resume, past runs
    trainer.py   the training process (``python -m lab.finetune.trainer RUN_DIR``): trl SFTTrainer + peft
    evaluate.py  base model vs base + adapter on the pricer's scoreboard
    modal_app.py the same run on a Modal GPU: generated app source, export, launch with a token
    cli.py       ``python -m lab finetune plan|run|eval|modal|runs|stop|resume``

Nothing here imports a model library at import time; each function imports what it needs.
"""
