"""The synthetic demo county: households, members, five years of income, status history and department files.

generator.generate_county is the entry point (the generate_county management command calls it);
docs/demo-county.md describes the model.
"""
