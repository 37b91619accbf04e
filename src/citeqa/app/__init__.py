"""App: the edges a person or a program talks to: the CLI, the Gradio UI, rendering, uploads."""
