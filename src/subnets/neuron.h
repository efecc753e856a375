/*
 * neuron.h — what every subnet participant (miner or validator) does with the chain: load its
 * keys, find its uid, register when it is new, and fetch the subnet's pinned model (from the
 * node, else from the subnet's miners), checking it by its content id.
 */
#ifndef AG_SUBNETS_NEURON_H
#define AG_SUBNETS_NEURON_H

#include "api/http.h"
#include "engine/engine.h"
#include "subnets/netclient.h"

#include <stdint.h>

/* Opens the node at node_url ("" = the one HOME names: ag_net_url_of_home), trying for 15 s
 * while it may still be starting, or until *stop. */
int ag_neuron_connect(ag_net *n, const char *home, const char *node_url, volatile int *stop);
/* The passphrase ag_neuron_key decrypts encrypted keys with: set once by the command that
 * runs the neuron (copied into guarded memory that stays out of core dumps), wiped and dropped
 * by ag_neuron_set_passphrase(NULL) when it is done. Never read from the environment. Not
 * thread-safe: set it before the neuron's threads start and clear it after they end. */
int ag_neuron_set_passphrase(const char *passphrase);
/* Loads key `name` from HOME/keys for chain_id (encrypted keys: with the passphrase above;
 * AG_E_PASSPHRASE_REQUIRED without one). */
int ag_neuron_key(const char *home, const char *name, const char *chain_id, ag_keypair *k);
/* The uid of the hotkey with address addr on netuid (-1 when not registered) and its endpoint
 * (host "" and port 0 when none). */
int ag_neuron_find(const ag_net *n, uint16_t netuid, const char *addr, int *uid, char host[128],
                   uint16_t *port);
/* Registers hotkey on netuid if it is not yet, paid by the key named coldkey (none: error
 * AG_E_NOT_REGISTERED). Sets *uid. */
int ag_neuron_register(ag_net *n, uint16_t netuid, const ag_keypair *hotkey, const char *home,
                       const char *coldkey, int *uid);
/* Announces http://host:port as hotkey's endpoint on netuid (a serve tx) unless the chain
 * already has exactly that; *uid gets the hotkey's uid. */
int ag_neuron_serve(ag_net *n, uint16_t netuid, const ag_keypair *hotkey, const char *host,
                    uint16_t port, int *uid);
/* Starts an HTTP server on listen ("" = 127.0.0.1:0) with routes and announces it as hotkey's
 * endpoint on netuid (at announce_host, "" = the listen host); *srv and *uid are set, and pub
 * (≥ 160 bytes) gets "http://host:port". */
int ag_neuron_listen(ag_net *n, uint16_t netuid, const ag_keypair *hotkey, const char *listen,
                     const char *announce_host, const ag_http_route *routes, size_t nroutes,
                     void *ctx, ag_http_server **srv, int *uid, char *pub);
/* GET /health for neurons: {"status": "ok"}. */
void ag_neuron_health(ag_http_req *req, ag_http_resp *resp);

/* Answers GET /agora/model-files/{id} from the model cache dir (404 when it is not there):
 * neurons serve the models they hold to their peers. */
void ag_neuron_model_file(ag_http_req *req, ag_http_resp *resp, const char *dir);

/* Loads the model netuid pins from dir, fetching it first if needed, as the fastest
 * equivalent (ag_model_prefer_f32). */
int ag_neuron_model(ag_net *n, uint16_t netuid, const char *dir, ag_model **out);
/* AG_E_MODEL_CHANGED (with a message) when the subnet now pins another model than have, 0 when
 * it still pins have, or the read's error. Miners and validators check it every few seconds
 * and start again on the new model (the CLI runs them again in the same process). */
int ag_neuron_pin_changed(ag_net *n, uint16_t netuid, const uint8_t have[32]);

#endif
