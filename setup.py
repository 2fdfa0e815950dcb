# The native shim is declared here because `cffi_modules` is a setuptools
# keyword that pyproject.toml cannot carry; everything else is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["native/build_shim.py:ffibuilder"])
