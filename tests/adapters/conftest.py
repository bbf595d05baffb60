"""Code on the AWS side of the ports that needs botocore but not the embedded AWS (pacing hooks
on botocore clients), and tests of core functions whose module still imports botocore."""
