"""The experiment in the forward plan: arms (holdout / explore / plan) and, once the decided fortnight
has happened, its measurement (measure.py: plan − holdout, per arm and category, explore slopes)."""
