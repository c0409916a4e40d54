"""The audiotok Gradio demo (see app.py); handlers.py holds the work, models.py the model dirs."""
