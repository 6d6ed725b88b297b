"""Impedance of equivalent circuits, in JAX: circuits parsed from impedance.py's strings
(:mod:`~elements.eis.circuits`), batched Levenberg–Marquardt fits of spectra
(:mod:`~elements.eis.fit`) and the ``eis_dataset`` element of synthetic spectra
(:mod:`~elements.eis.dataset`). The ``EIS`` objective is in :mod:`elements.objectives.eis`."""
