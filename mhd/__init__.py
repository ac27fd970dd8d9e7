"""MHD Document Recipient: ITI-65 Provide Document Bundle into the XDS registry and repository."""
