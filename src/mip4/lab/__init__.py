"""``mip4 lab``: a testbed of Linux network namespaces running the real daemons.

:mod:`mip4.lab.topology` builds and removes the namespaces, :mod:`mip4.lab.runner` starts the
daemons, the CBR endpoints (:mod:`mip4.lab.cbr`) and the radio controller, and measures the
handoffs from the real packets with the simulator's metrics; :mod:`mip4.lab.command` is the
``mip4 lab up | run | down`` command.
"""
