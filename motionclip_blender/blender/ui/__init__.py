"""Every panel and list of the MotionCLIP sidebar tab: the main panel (Generate), Latent Tools and their
sub-panels, Retarget, Search Actions, Fine-tuning. Parents come before children in ``CLASSES``."""

from . import latent, main, render, retarget, search

CLASSES = (*main.CLASSES, *retarget.CLASSES, *latent.CLASSES, *search.CLASSES, *render.CLASSES)
