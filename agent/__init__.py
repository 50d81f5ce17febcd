"""optagent: an automated options-trading agent for US equity/ETF options on Alpaca."""

__version__ = "0.1.0"
