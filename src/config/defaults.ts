/**
 * Every default of the config schema (config/schema.ts and each detector's section), as
 * `npm run gen:defaults` wrote it from the schema: a run without --config takes these
 * instead of validating {} with zod, whose loading and schema building were ~30 ms of
 * start-up. test/config/defaults.test.ts checks them against the schema. Do not edit.
 */
import type { Config } from './schema.js';

const DEFAULTS: Config = {
  "localNetworks": [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7"
  ],
  "flows": {
    "maxFlows": 1000000,
    "vlanInKey": true,
    "tcpIdleSeconds": 300,
    "tcpEmbryonicSeconds": 30,
    "udpIdleSeconds": 60,
    "icmpIdleSeconds": 60,
    "otherIdleSeconds": 60,
    "closedGraceSeconds": 5,
    "activeSeconds": 1800
  },
  "alerts": {
    "suppressSeconds": 300,
    "maxSuppressionEntries": 100000
  },
  "outputs": {
    "alerts": null,
    "flows": null,
    "flowsFormat": "json",
    "stats": null,
    "statsIntervalSeconds": 60,
    "ipfix": null,
    "metricsListen": null
  },
  "detectors": {
    "scan": {
      "windowSeconds": 300,
      "portMinPorts": 15,
      "addressMinHosts": 25,
      "localAddressMinHosts": 10,
      "randomMinHosts": 25,
      "randomMinPorts": 25,
      "peerMaxPairsPerPort": 1.5,
      "peerMaxPairsPerHost": 1.5,
      "peerMinHighPortShare": 0.9,
      "maxSources": 100000,
      "maxPairsPerSource": 4096,
      "skipPorts": [
        "6881-6889",
        6346,
        6347,
        4662,
        4672,
        1214,
        6699,
        6257
      ],
      "replySrcPorts": [
        20,
        53,
        80,
        179,
        443,
        6666,
        6667,
        8080
      ],
      "redFlagPorts": [
        445,
        6667
      ],
      "enabled": true,
      "allowSources": []
    },
    "p2p": {
      "windowSeconds": 300,
      "minPeers": 10,
      "patternMinHosts": 25,
      "patternMinPorts": 25,
      "peerMaxPairsPerPort": 1.5,
      "peerMaxPairsPerHost": 1.5,
      "peerMinHighPortShare": 0.9,
      "ports": [
        "6881-6889",
        6346,
        6347,
        4662,
        4672,
        1214,
        6699,
        6257
      ],
      "replySrcPorts": [
        20,
        53,
        80,
        179,
        443,
        6666,
        6667,
        8080
      ],
      "maxSources": 100000,
      "maxPairsPerSource": 4096,
      "enabled": true,
      "allowSources": []
    },
    "flood": {
      "windowSeconds": 60,
      "minSources": 1000,
      "minUnansweredShare": 0.8,
      "maxTargets": 10000,
      "enabled": true,
      "allowSources": []
    },
    "backdoor": {
      "ports": [
        31337,
        54320,
        54321,
        12345,
        12346,
        20034,
        27374,
        1243,
        6776,
        4444,
        3127,
        2745,
        6129,
        1524,
        5554,
        9996,
        65506
      ],
      "dataMinBytes": 512,
      "ircPorts": [
        6660,
        6661,
        6662,
        6663,
        6664,
        6665,
        6666,
        6667,
        6668,
        6669,
        7000
      ],
      "knownIrcServers": [],
      "allowDestinations": [],
      "enabled": true,
      "allowSources": []
    },
    "icmpUnreachable": {
      "windowSeconds": 300,
      "minUnreachables": 20,
      "minTargets": 5,
      "volumeUnreachables": 100,
      "maxTrackedHosts": 100000,
      "enabled": true,
      "allowSources": []
    },
    "icmpNachi": {
      "windowSeconds": 300,
      "minHosts": 20,
      "echoBytes": 92,
      "tracerouteMaxTtl": 30,
      "maxTrackedHosts": 100000,
      "enabled": true,
      "allowSources": []
    },
    "policy": {
      "serverZones": {},
      "outboundAllowedPorts": [
        53,
        123
      ],
      "enabled": true,
      "allowSources": []
    },
    "imbalance": {
      "windowSeconds": 3600,
      "minOutboundBytes": 500000000,
      "minInboundBytes": 5000000000,
      "minRatio": 10,
      "p2pMinPeers": 50,
      "webPorts": [
        80,
        443,
        8000,
        8080,
        8443
      ],
      "mailPorts": [
        25,
        465,
        587
      ],
      "ftpPorts": [
        20,
        21
      ],
      "portsPerHost": 16,
      "maxPeersPerHost": 64,
      "maxTrackedHosts": 100000,
      "enabled": true,
      "allowSources": []
    }
  }
};

/** A fresh copy of every default (callers may change it, e.g. --max-flows). */
export function builtInDefaults(): Config {
  return structuredClone(DEFAULTS);
}
