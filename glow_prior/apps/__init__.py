"""The binaries as importable applications: glow_prior.apps.NAME.main(argv) -> exit status.

bin/NAME, `python -m glow_prior.apps.NAME` and the console script NAME (installed by
`pip install -e .`) all run the same main. Each module imports only TensorFlow-free code at
the top, so the command line is parsed and checked before TensorFlow loads.
"""
