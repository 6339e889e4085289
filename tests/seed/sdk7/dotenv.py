# A stand-in for python-dotenv (not a dgstream dependency), which Deepgram's examples
# import first: the settings come from the environment the test sets.
def load_dotenv(*args, **kwargs):
    return False
