"""The API's resources, one blueprint each, nested under the `recall` blueprint."""
