"""Training: corpora and splits, windows and augmentation, losses, the training loop, evaluation, the
public prompt suite and image fine-tuning."""
