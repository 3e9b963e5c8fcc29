"""The command line, ``logitrank <subcommand>``: the top of the package stack, above every library layer.

One module per subcommand (:mod:`.reproduce`, :mod:`.spectrum`, :mod:`.bench`, :mod:`.serve`, :mod:`.train`,
:mod:`.extract`, :mod:`.measure`, :mod:`.verify`), each with ``NAME``, ``HELP``, ``add_arguments(parser)``
declaring its options and ``run(args) -> int`` turning the parsed ``argparse.Namespace`` into typed library
calls: the ``Namespace`` never leaves this package (nothing below it takes one, nothing sent to a Dask
worker is one). :mod:`.main` builds the parser and turns bad input into exit status 2 with the option named
as the user typed it; :mod:`.options` holds the argument types and the option groups two subcommands share.
The library packages are imported inside ``run`` only, so ``logitrank --help`` stays quick.

Run it as ``logitrank ...`` (the console script) or ``python -m logitrank_cli ...``.
"""
