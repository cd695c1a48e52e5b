"""IntroCoach: practise professional introductions and small talk."""

__version__ = "0.1.0"
