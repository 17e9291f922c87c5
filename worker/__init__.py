"""ShakeLab's worker: the Celery task and the training engine it runs."""
