"""``python -m featvslearn.results --schema``: print the JSON Schema of results files (see :mod:`.schema`)."""

from featvslearn.results.schema import main

main()
