# Runtime defaults (mmseg 0.24.1 default_runtime, plus TensorBoard scalars under <work_dir>/tf_logs).
log_config = dict(
    interval=50,
    hooks=[
        dict(type='TextLoggerHook', by_epoch=False),
        dict(type='TensorboardLoggerHook'),
    ])
dist_params = dict(backend='nccl')  # gloo is used automatically on CPU-only machines
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
cudnn_benchmark = True
