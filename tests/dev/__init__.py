"""Developer tools, not the product's: ``ui_shot`` (the README's picture of the UI, ``make
ui-shot``) and the headless Chromium it and the UI tests drive (``chromium``)."""
