"""The optimizer playground: gradient descent on 1-D and 2-D functions, step by step."""
