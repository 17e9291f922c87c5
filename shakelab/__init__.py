"""ShakeLab for scripts: `shakelab.client.Client` (Python) and the `shakelab` command (shakelab.cli)."""
