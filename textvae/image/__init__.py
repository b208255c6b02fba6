"""Image VAEs for parity with the literature: Kingma & Welling 2014, the convolutional VAE,
beta-VAE (Higgins et al. 2017), VQ-VAE (van den Oord et al. 2017) and the plain autoencoder.

They share the Gaussian maths (:mod:`textvae.core.gaussian`), the KL schedules
(:mod:`textvae.core.objectives`), the loop's :class:`textvae.core.loop_config.LoopTrainConfig` and the checkpoint format
(:mod:`textvae.core.checkpoint`) with the sentence VAE. Submodules are imported where used.
"""
