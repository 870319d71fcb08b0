"""The swarm services.

Numeric libraries run single-threaded here (set before numpy is first imported): the services
parallelise across requests, processes and cores themselves, and OpenBLAS's own thread pool buffers
cost ~17 MB per process for matrices of a few thousand cells. An explicit setting wins."""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
