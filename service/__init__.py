"""The FastAPI scoring service: /score, /recommend, health, metrics, hot bundle swaps.

It reads bundles through `model` only and never imports training code.
"""
