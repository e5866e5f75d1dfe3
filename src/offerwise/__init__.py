"""offerwise: which offer to give each consumer on each item for the next two weeks."""

__version__ = "0.1.0"
