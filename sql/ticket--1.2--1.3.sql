/* ticket--1.2--1.3.sql: journey search, direct and with one change */

\echo Use "ALTER EXTENSION ticket UPDATE TO '1.3'" to load this file. \quit

SET LOCAL search_path = ticket, pg_catalog;
