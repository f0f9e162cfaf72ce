"""Write the parse tables of checkov's JSONPath parsers where PLY looks for them first.

checkov reads JSONPath expressions with ``bc_jsonpath_ng``, which asks PLY for an LALR parser on
every expression it parses and never lets PLY write the table (``write_tables=0``): each expression
built its table again, 6.7 ms each, a dozen seconds of CPU per scan of kefu's template. PLY loads a
table it finds (``parser_jsonpath_parsetab.py`` in the parser class's package) when its signature
matches the grammar, and builds one otherwise, so this changes nothing but the time (0.9 ms a
parse). Run by ``make checkov`` with checkov's Python.
"""

from __future__ import annotations

import os
import sys

import ply.yacc
from bc_jsonpath_ng import parser
from bc_jsonpath_ng.ext import parser as ext_parser


def main() -> None:
    for parser_class in (parser.JsonPathParser, ext_parser.ExtentedJsonPathParser):
        package_dir = os.path.dirname(sys.modules[parser_class.__module__].__file__)
        ply.yacc.yacc(module=parser_class(), debug=False, tabmodule="parser_jsonpath_parsetab",
                      outputdir=package_dir, write_tables=1, start="jsonpath")


if __name__ == "__main__":
    main()
