"""The embedded market: a seeded options-market simulator and a simulated broker."""
