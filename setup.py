"""The one build step pyproject.toml cannot declare without a warning: the optional C module.

``mip4.wire._accel`` is HMAC-MD5 in C over OpenSSL (``src/mip4/wire/_accel.c``). It is
optional: an install without a C compiler or the OpenSSL headers still works, on the
pure-Python path of :mod:`mip4.wire.auth`.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mip4.wire._accel",
            sources=["src/mip4/wire/_accel.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]
)
