"""The local Bitget V2 exchange simulator and the plain-Python reference it is built on.

Only ``cli.py`` and paper trading import this package; the live client path never does.
"""
