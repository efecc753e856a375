"""Agora's Python SDK: keys and the keystore (agora_sdk.keys), transactions encoded and signed
exactly as the C node does (agora_sdk.tx), and the node's API (agora_sdk.client)."""
from .bech32 import AddressError, address, public_key
from .client import ApiError, AsyncClient, Client
from .keys import Keypair, KeystoreError, load_keystore, save_keystore, verify
from . import tx

__all__ = ["AddressError", "ApiError", "AsyncClient", "Client", "Keypair", "KeystoreError", "address", "load_keystore",
           "public_key", "save_keystore", "tx", "verify"]
__version__ = "0.1.0"
