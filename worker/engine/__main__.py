import logging
import os
import sys

from .cli import main

code = main()
if int(os.environ.get("WORLD_SIZE", "1")) > 1:
    # A rank of a torchrun run leaves without the interpreter's teardown: at exit the C++ threads of gloo and
    # of the TCP store, torn down in no set order, sometimes abort a rank whose run has ended well (SIGABRT,
    # "terminate called without an active exception"; about 1 run in 14 on two CPU ranks), and torchrun then
    # counts the run as failed. Its files are written and closed by then; only the output is left to flush.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
