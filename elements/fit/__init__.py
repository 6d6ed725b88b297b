"""A fit in parts a reader can hold in their head: its spec, the worker-side evaluation, the driver
that runs an optimizer on the fit problem (with its journal and multistarts), and its dataset.
The ``data_fit`` and ``array_data_fit`` elements are built from them."""
