"""Training (ROS-free): datasets, pair sampler, augmentation, targets, losses, DDP engine, CLI."""
