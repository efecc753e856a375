"""Agora's Python SDK: keys and the keystore (agora_sdk.keys), transactions encoded and signed
exactly as the C node does (agora_sdk.tx), the node's API (agora_sdk.client), paying miners
for answers through payment channels (agora_sdk.economy), and contacting the endpoints neurons
announce (agora_sdk.endpoint)."""
from .bech32 import AddressError, address, public_key
from .client import ApiError, AsyncClient, Client
from .keys import Keypair, KeystoreError, load_keystore, save_keystore, verify
from . import economy, endpoint, tx
from .economy import Channel, MinerClient, PaymentRequired, ReceiptError

__all__ = ["AddressError", "ApiError", "AsyncClient", "Channel", "Client", "Keypair", "KeystoreError", "MinerClient",
           "PaymentRequired", "ReceiptError", "address", "economy", "endpoint", "load_keystore", "public_key", "save_keystore", "tx",
           "verify"]
__version__ = "0.1.0"
