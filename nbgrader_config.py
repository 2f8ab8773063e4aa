"""nbgrader's configuration for the course (INSTRUCTORS.md).

Run nbgrader from the repository root. `make assignments` (scripts/coursework.py) fills
coursework/source/<NN_topic>/ from notebooks/ and writes the student versions to
coursework/release/<NN_topic>/; collected work goes to coursework/submitted/<student>/<NN_topic>/,
`nbgrader autograde NN_topic` writes coursework/autograded/, grades live in coursework/gradebook.db.
All of coursework/ except its .gitignore is generated: notebooks/ is the one source.
"""

from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(Path(__file__).resolve().parent / "coursework")
c.CourseDirectory.course_id = "ntk-course"
# The notebooks need ntk_helpers and their data; nothing else is copied with an assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
# Autograding runs a whole lesson notebook (10–60 s on 2 cores): leave room for a slow machine.
c.ExecutePreprocessor.timeout = 600
c.Execute.timeout = 600
# Student versions: the solution region becomes this stub, the hidden tests disappear.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
