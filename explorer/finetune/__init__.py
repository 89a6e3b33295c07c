"""The Fine-tune page's domain: labelled sentences, the head and its training, the proof that the model
did not change, the head file, and tuning the top layers of a private copy. No Streamlit here."""
